#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rsvault_fuzz::exercise(rsvault_fuzz::Reader::Vhdx, data);
});
