// Toolbar icons: a few hand-drawn SVG shapes (24x24), built as DOM nodes.
const NS = 'http://www.w3.org/2000/svg';

const SHAPES: Record<string, string[]> = {
  mic: ['M9 4a3 3 0 0 1 6 0v7a3 3 0 0 1-6 0z', 'M5 11a7 7 0 0 0 14 0', 'M12 18v3', 'M8 21h8'],
  camera: ['M3 7h12v10H3z', 'M15 11l6-4v10l-6-4'],
  screen: ['M3 4h18v12H3z', 'M9 20h6', 'M12 16v4', 'M12 7v6', 'M9 10l3-3 3 3'],
  hand: ['M8 13V6a1.5 1.5 0 0 1 3 0v5', 'M11 11V4a1.5 1.5 0 0 1 3 0v7', 'M14 11V5.5a1.5 1.5 0 0 1 3 0V14a7 7 0 0 1-7 7c-2.5 0-4-1.3-5.3-3.3L3 14.5a1.5 1.5 0 0 1 2.5-1.7L8 16'],
  chat: ['M4 5h16v11H9l-5 4z'],
  hangup: ['M3 14c5-5 13-5 18 0l-2.5 2.5-3-1.5v-2.5a9 9 0 0 0-7 0V15l-3 1.5z'],
  tiles: ['M4 4h7v7H4z', 'M13 4h7v7h-7z', 'M4 13h7v7H4z', 'M13 13h7v7h-7z'],
  info: ['M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18z', 'M12 11v6', 'M12 7.5v.5'],
  more: ['M5 12h.01', 'M12 12h.01', 'M19 12h.01'],
  slash: ['M4 3l17 18'],
  star: ['M12 3l2.6 5.6 6.1.7-4.5 4.2 1.2 6L12 16.6 6.6 19.5l1.2-6L3.3 9.3l6.1-.7z'],
  lock: ['M6 11h12v9H6z', 'M9 11V8a3 3 0 0 1 6 0v3'],
};

export type IconName = keyof typeof SHAPES;

export function icon(name: IconName, off = false): SVGSVGElement {
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', 'icon');
  svg.setAttribute('aria-hidden', 'true');
  for (const d of [...(SHAPES[name] ?? []), ...(off ? SHAPES.slash ?? [] : [])]) {
    const p = document.createElementNS(NS, 'path');
    p.setAttribute('d', d);
    svg.appendChild(p);
  }
  return svg;
}
