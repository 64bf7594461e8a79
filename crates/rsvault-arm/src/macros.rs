//! The two macros every model builds on: [`arm_enum!`] for ARM's string
//! enums and [`arm_union!`] for its polymorphic objects.

/// An ARM string enum: its variants plus `Other(String)`, which keeps a
/// value this version does not know instead of failing.
///
/// Values compare case-insensitively (Azure's clients send `AlwaysOn` where
/// the service says `AlwaysON`, `locallyredundant` for `LocallyRedundant`):
/// deserialising or parsing maps any casing of a known value to its
/// variant, and `==` ignores case. Serialising writes the canonical
/// spelling; an unknown value is written as it was received. A variant's
/// wire name is its own name unless given (`AlwaysOn = "AlwaysON"`).
///
/// ```
/// rsvault_arm::arm_enum! {
///     /// Where a vault keeps its backup data.
///     pub enum Redundancy { GeoRedundant, LocallyRedundant, ZoneRedundant }
/// }
/// let r: Redundancy = "locallyredundant".parse().unwrap();
/// assert_eq!(r, Redundancy::LocallyRedundant);
/// assert_eq!(r.as_str(), "LocallyRedundant");
/// assert_eq!(Redundancy::from("Mars").as_str(), "Mars");
/// ```
#[macro_export]
macro_rules! arm_enum {
    (@wire $variant:ident $wire:literal) => {
        $wire
    };
    (@wire $variant:ident) => {
        stringify!($variant)
    };
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident $(= $wire:literal)? ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this version does not know, kept as received.
            Other(String),
        }

        impl $name {
            /// The canonical wire names of the known values.
            pub const KNOWN: &'static [&'static str] =
                &[$( $crate::arm_enum!(@wire $variant $($wire)?) ),+];

            /// The wire name: canonical for a known value, as received otherwise.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $crate::arm_enum!(@wire $variant $($wire)?), )+
                    Self::Other(s) => s,
                }
            }

            /// The value named `s` in any case; `Other` when it is unknown.
            pub fn parse_lenient(s: &str) -> Self {
                $(
                    if s.eq_ignore_ascii_case($crate::arm_enum!(@wire $variant $($wire)?)) {
                        return Self::$variant;
                    }
                )+
                Self::Other(s.to_owned())
            }

            /// Whether this is one of the known values.
            pub fn is_known(&self) -> bool {
                !matches!(self, Self::Other(_))
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = ::std::convert::Infallible;
            fn from_str(s: &str) -> ::std::result::Result<Self, Self::Err> {
                Ok(Self::parse_lenient(s))
            }
        }

        impl ::std::convert::From<&str> for $name {
            fn from(s: &str) -> Self {
                Self::parse_lenient(s)
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::cmp::PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.as_str().eq_ignore_ascii_case(other.as_str())
            }
        }

        impl ::std::cmp::Eq for $name {}

        impl ::std::cmp::PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str().eq_ignore_ascii_case(other)
            }
        }

        impl ::std::cmp::PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str().eq_ignore_ascii_case(other)
            }
        }

        impl ::std::hash::Hash for $name {
            fn hash<H: ::std::hash::Hasher>(&self, state: &mut H) {
                for b in self.as_str().bytes() {
                    state.write_u8(b.to_ascii_lowercase());
                }
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> ::std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> ::std::result::Result<Self, D::Error> {
                let s = <::std::string::String as ::serde::Deserialize>::deserialize(d)?;
                Ok(Self::parse_lenient(&s))
            }
        }
    };
}

/// A polymorphic ARM object, told apart by a discriminator field
/// (`objectType`, `protectedItemType`, `schedulePolicyType`…): one variant
/// per known discriminator value, each holding the model of that kind
/// (without the discriminator, which the union writes), and `Other`, which
/// keeps an object of an unknown kind whole.
///
/// The discriminator is matched case-insensitively and written in its
/// canonical spelling; several values may share one model. A known kind
/// whose body does not read is an error naming the kind and, when a field
/// inside is at fault, its path (`schedulePolicyType SimpleSchedulePolicyV2
/// (at hourlySchedule.interval): …`), which [`crate::de::from_value`]
/// follows.
///
/// ```
/// #[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
/// pub struct Daily { pub hour: u32 }
/// rsvault_arm::arm_union! {
///     /// A schedule.
///     pub enum Schedule tag "kind" { Daily("Daily") => Daily }
/// }
/// let s: Schedule = serde_json::from_str(r#"{"kind": "daily", "hour": 3}"#).unwrap();
/// assert_eq!(s, Schedule::Daily(Daily { hour: 3 }));
/// assert_eq!(serde_json::to_string(&s).unwrap(), r#"{"hour":3,"kind":"Daily"}"#);
/// ```
#[macro_export]
macro_rules! arm_union {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident tag $tag:literal {
            $( $(#[$vmeta:meta])* $variant:ident($wire:literal) => $ty:ty ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        // Models are values read once and matched on; boxing the known
        // kinds would only make every access longer.
        #[allow(clippy::large_enum_variant)]
        #[derive(Debug, Clone, PartialEq)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant($ty), )+
            /// An object of a kind this version does not know, as received.
            Other(::serde_json::Map<::std::string::String, ::serde_json::Value>),
        }

        impl $name {
            /// The discriminator field.
            pub const TAG: &'static str = $tag;

            /// The discriminator's value: canonical for a known kind, as
            /// received (or empty) otherwise.
            pub fn kind(&self) -> &str {
                match self {
                    $( Self::$variant(_) => $wire, )+
                    Self::Other(m) => m.get($tag).and_then(::serde_json::Value::as_str).unwrap_or(""),
                }
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> ::std::result::Result<S::Ok, S::Error> {
                use ::serde::ser::Error as _;
                let (body, wire) = match self {
                    $( Self::$variant(x) => (::serde_json::to_value(x).map_err(S::Error::custom)?, $wire), )+
                    Self::Other(m) => return ::serde::Serialize::serialize(m, s),
                };
                match body {
                    ::serde_json::Value::Object(mut m) => {
                        m.insert($tag.to_owned(), ::serde_json::Value::String(wire.to_owned()));
                        ::serde::Serialize::serialize(&m, s)
                    }
                    _ => Err(S::Error::custom(concat!(stringify!($name), ": a variant's model must serialise to an object"))),
                }
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> ::std::result::Result<Self, D::Error> {
                use ::serde::de::Error as _;
                let mut m = <::serde_json::Map<::std::string::String, ::serde_json::Value> as ::serde::Deserialize>::deserialize(d)?;
                let kind = match m.get($tag) {
                    Some(::serde_json::Value::String(k)) => k.clone(),
                    _ => return Ok(Self::Other(m)),
                };
                $(
                    if kind.eq_ignore_ascii_case($wire) {
                        m.remove($tag);
                        return $crate::de::variant(m)
                            .map(Self::$variant)
                            .map_err(|e| D::Error::custom(format_args!("{} {}{e}", $tag, $wire)));
                    }
                )+
                Ok(Self::Other(m))
            }
        }
    };
}

#[cfg(test)]
#[allow(dead_code)]
mod tests {
    use serde_json::json;

    crate::arm_enum! {
        /// A test enum.
        pub enum State { Enabled, Disabled, AlwaysOn = "AlwaysON" }
    }

    #[test]
    fn enums_table() {
        // (wire text, expected variant, canonical serialisation)
        let cases = [
            ("Enabled", State::Enabled, "Enabled"),
            ("enabled", State::Enabled, "Enabled"),
            ("DISABLED", State::Disabled, "Disabled"),
            ("AlwaysON", State::AlwaysOn, "AlwaysON"),
            ("AlwaysOn", State::AlwaysOn, "AlwaysON"),
            ("alwayson", State::AlwaysOn, "AlwaysON"),
            ("Sometimes", State::Other("Sometimes".into()), "Sometimes"),
            ("", State::Other(String::new()), ""),
        ];
        for (wire, want, canon) in cases {
            let got: State = serde_json::from_value(json!(wire)).unwrap();
            assert_eq!(got, want, "{wire}");
            assert_eq!(serde_json::to_value(&got).unwrap(), json!(canon), "{wire}");
            assert_eq!(wire.parse::<State>().unwrap(), want, "{wire}");
            assert_eq!(got.to_string(), canon);
            assert_eq!(got.as_str(), canon);
            assert_eq!(got.is_known(), !matches!(want, State::Other(_)));
            assert!(got == *wire, "{wire} compares to its own text");
        }
        assert_ne!(State::Enabled, State::Disabled);
        assert_eq!(State::Other("enabled".into()), State::Enabled);
        assert_eq!(State::KNOWN, ["Enabled", "Disabled", "AlwaysON"]);
        // Not a string: an error, not a panic.
        assert!(serde_json::from_value::<State>(json!(3)).is_err());
        let set: std::collections::HashSet<State> =
            [State::AlwaysOn, "alwayson".parse().unwrap()].into();
        assert_eq!(
            set.len(),
            1,
            "hashing agrees with case-insensitive equality"
        );
    }

    #[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct A {
        n: u32,
        #[serde(flatten)]
        extra: serde_json::Map<String, serde_json::Value>,
    }

    crate::arm_union! {
        /// A test union.
        pub enum U tag "objectType" { A("KindA") => A, A2("KindA2") => A }
    }

    #[test]
    fn unions_table() {
        let a = |n| A {
            n,
            extra: Default::default(),
        };
        let cases = [
            (json!({"objectType": "KindA", "n": 1}), U::A(a(1)), true),
            (json!({"objectType": "kinda", "n": 2}), U::A(a(2)), false),
            (json!({"objectType": "KindA2", "n": 3}), U::A2(a(3)), true),
        ];
        for (body, want, exact) in cases {
            let got: U = serde_json::from_value(body.clone()).unwrap();
            assert_eq!(got, want);
            let back = serde_json::to_value(&got).unwrap();
            assert_eq!(back == body, exact, "{body}");
            assert_eq!(back["objectType"], json!(got.kind()));
        }
        for other in [
            json!({"objectType": "KindB", "x": [1]}),
            json!({"x": 1}),
            json!({"objectType": 7}),
        ] {
            let got: U = serde_json::from_value(other.clone()).unwrap();
            assert!(matches!(got, U::Other(_)));
            assert_eq!(serde_json::to_value(&got).unwrap(), other);
        }
        assert_eq!(
            serde_json::from_value::<U>(json!({"objectType": "KindB"}))
                .unwrap()
                .kind(),
            "KindB"
        );
        // A known kind with a bad field is an error naming the kind.
        let e = serde_json::from_value::<U>(json!({"objectType": "KindA", "n": "x"})).unwrap_err();
        assert!(e.to_string().contains("objectType KindA"), "{e}");
        assert!(serde_json::from_value::<U>(json!([1])).is_err());
    }
}
