// Small inline SVG icons (no icon font, no emoji: they render the same on
// every system). Icons are decorative: aria-hidden, the text beside them names
// the action.

const NS = 'http://www.w3.org/2000/svg';

// 16×16 strokes.
const PATHS = {
  plus: 'M8 2v12M2 8h12',
  refresh: 'M13.5 8a5.5 5.5 0 1 1-1.6-3.9M13.5 2.5v3h-3',
  trash: 'M2.5 4h11M6 4V2.5h4V4M4 4l.8 9.5h6.4L12 4M6.5 6.5v5M9.5 6.5v5',
  edit: 'M10.5 2.5l3 3-8 8h-3v-3z M9 4l3 3',
  shield: 'M8 1.5l5.5 2v4c0 3.5-2.5 6-5.5 7-3-1-5.5-3.5-5.5-7v-4z M5.5 8l2 2 3-3.5',
  backup: 'M8 2v8M4.5 6.5 8 10l3.5-3.5M2.5 13.5h11',
  restore: 'M2.5 8a5.5 5.5 0 1 0 1.6-3.9M2.5 2.5v3h3',
  stop: 'M4 4h8v8H4z',
  play: 'M5 3l8 5-8 5z',
  undo: 'M5.5 3.5 2.5 6.5l3 3M2.5 6.5h7a4 4 0 0 1 0 8h-3',
  cancel: 'M8 1.5a6.5 6.5 0 1 0 0 13 6.5 6.5 0 0 0 0-13zM3.4 3.4l9.2 9.2',
  menu: 'M2 4h12M2 8h12M2 12h12',
  close: 'M3.5 3.5l9 9M12.5 3.5l-9 9',
  bell: 'M4 11V7a4 4 0 0 1 8 0v4l1.5 1.5h-11zM6.5 13.5a1.5 1.5 0 0 0 3 0',
  vault: 'M2 2.5h12v10H2zM2 12.5v1.5M14 12.5v1.5M8 7.5m-2.2 0a2.2 2.2 0 1 0 4.4 0a2.2 2.2 0 1 0-4.4 0M8 5.3v-1M8 10.7v-1',
  vm: 'M1.5 2.5h13v8.5h-13zM5.5 14h5M8 11v3',
  storage: 'M2 3.5h12v3H2zM2 6.5h12v3H2zM2 9.5h12v3H2zM4.5 5h.01M4.5 8h.01M4.5 11h.01',
  check: 'M2.5 8.5l3.5 3.5 7.5-8',
  cross: 'M3.5 3.5l9 9M12.5 3.5l-9 9',
  sync: 'M13.5 8a5.5 5.5 0 0 1-9.9 3.3M2.5 8a5.5 5.5 0 0 1 9.9-3.3M12.5 1.5v3.2H9.3M3.5 14.5v-3.2h3.2',
  warning: 'M8 1.5l6.5 12h-13zM8 6v3.5M8 11.5v.5',
  info: 'M8 1.5a6.5 6.5 0 1 0 0 13 6.5 6.5 0 0 0 0-13zM8 7v4.5M8 4.5v.5',
  more: 'M3 8h.01M8 8h.01M13 8h.01',
};

export function icon(name, cls = 'icon') {
  const d = PATHS[name];
  if (!d) return null;
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', '0 0 16 16');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.setAttribute('class', cls);
  const p = document.createElementNS(NS, 'path');
  p.setAttribute('d', d);
  svg.appendChild(p);
  return svg;
}
