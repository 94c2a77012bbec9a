// Small inline SVG icons (no icon font, nothing fetched). All decorative: the buttons
// that hold them carry the accessible name.

import type { ReactElement } from 'react';

type P = { className?: string };

function Svg({ className, children }: P & { children: ReactElement | ReactElement[] }): ReactElement {
  return (
    <svg className={className ? `icon ${className}` : 'icon'} viewBox="0 0 24 24" aria-hidden="true" focusable="false">
      {children}
    </svg>
  );
}

const stroke = { fill: 'none', stroke: 'currentColor', strokeWidth: 2, strokeLinecap: 'round', strokeLinejoin: 'round' } as const;

export const MenuIcon = (p: P) => (
  <Svg {...p}>
    <path {...stroke} d="M4 6h16M4 12h16M4 18h16" />
  </Svg>
);
export const SearchIcon = (p: P) => (
  <Svg {...p}>
    <circle {...stroke} cx="11" cy="11" r="7" />
    <path {...stroke} d="m20 20-3.5-3.5" />
  </Svg>
);
export const SendIcon = (p: P) => (
  <Svg {...p}>
    <path fill="currentColor" d="M3.4 20.4 21 12 3.4 3.6l-.01 6.53L15 12 3.39 13.87z" />
  </Svg>
);
export const ClipIcon = (p: P) => (
  <Svg {...p}>
    <path {...stroke} d="m21 11-8.5 8.5a5 5 0 0 1-7-7L14 4a3.3 3.3 0 0 1 4.7 4.7l-8.5 8.5a1.7 1.7 0 0 1-2.4-2.4L15.5 7" />
  </Svg>
);
export const ShieldIcon = (p: P) => (
  <Svg {...p}>
    <path {...stroke} d="M12 3 5 6v5c0 4.5 3 8.3 7 10 4-1.7 7-5.5 7-10V6z" />
  </Svg>
);
export const ShieldCheckIcon = (p: P) => (
  <Svg {...p}>
    <path {...stroke} d="M12 3 5 6v5c0 4.5 3 8.3 7 10 4-1.7 7-5.5 7-10V6z" />
    <path {...stroke} d="m9 12 2 2 4-4" />
  </Svg>
);
export const WarnIcon = (p: P) => (
  <Svg {...p}>
    <path {...stroke} d="M12 4 2.5 20h19z" />
    <path {...stroke} d="M12 10v4M12 17.5v.01" />
  </Svg>
);
export const PencilIcon = (p: P) => (
  <Svg {...p}>
    <path {...stroke} d="M4 20h4L19 9l-4-4L4 16z" />
    <path {...stroke} d="m13.5 6.5 4 4" />
  </Svg>
);
export const CloseIcon = (p: P) => (
  <Svg {...p}>
    <path {...stroke} d="M6 6l12 12M18 6 6 18" />
  </Svg>
);
export const DownIcon = (p: P) => (
  <Svg {...p}>
    <path {...stroke} d="M12 5v14M6 13l6 6 6-6" />
  </Svg>
);
export const PlugIcon = (p: P) => (
  <Svg {...p}>
    <path {...stroke} d="M9 7V3M15 7V3M6 7h12v4a6 6 0 0 1-12 0zM12 17v4" />
  </Svg>
);
export const CheckIcon = (p: P) => (
  <Svg {...p}>
    <path {...stroke} d="m5 12.5 4.5 4.5L19 7.5" />
  </Svg>
);
export const PawIcon = (p: P) => (
  <Svg {...p}>
    <path
      fill="currentColor"
      d="M12 13c-2.8 0-5.5 2.7-5.5 5 0 1.5 1.2 2.3 2.6 2.3 1.1 0 1.9-.6 2.9-.6s1.8.6 2.9.6c1.4 0 2.6-.8 2.6-2.3 0-2.3-2.7-5-5.5-5zM7 11.3c1.2-.4 1.7-2 1.1-3.6S6 5.2 4.8 5.6 3.1 7.6 3.7 9.2s2.1 2.5 3.3 2.1zm10 0c1.2.4 2.7-.5 3.3-2.1s0-3.2-1.1-3.6-2.7.5-3.3 2.1-.1 3.2 1.1 3.6zM9.6 7.9c1.4 0 2.4-1.5 2.4-3.3S11 1.5 9.6 1.5 7.2 3 7.2 4.6s1 3.3 2.4 3.3zm4.8 0c1.4 0 2.4-1.5 2.4-3.3s-1-3.1-2.4-3.1S12 3 12 4.6s1 3.3 2.4 3.3z"
    />
  </Svg>
);

/** Delivery ticks: ✓ pending, ✓✓ delivered, coloured ✓✓ read. */
export function Ticks({ status }: { status: 'pending' | 'delivered' | 'read' }): ReactElement {
  const label = status === 'pending' ? 'Sent, waiting for delivery' : status === 'delivered' ? 'Delivered' : 'Read';
  return (
    <span className={`ticks ticks-${status}`} role="img" aria-label={label} title={label}>
      <svg viewBox="0 0 18 12" aria-hidden="true" focusable="false">
        <path {...stroke} strokeWidth={1.6} d="m1.5 6.5 3.2 3.2L11 3.2" />
        {status !== 'pending' && <path {...stroke} strokeWidth={1.6} d="m8.2 9.2.5.5L15 3.2" />}
      </svg>
    </span>
  );
}
export const UsersIcon = (p: P) => (
  <Svg {...p}>
    <circle {...stroke} cx="9" cy="8" r="3.5" />
    <path {...stroke} d="M2.5 20c.6-3.6 3.2-5.5 6.5-5.5s5.9 1.9 6.5 5.5M16 4.8a3.5 3.5 0 0 1 0 6.4M18.5 14.8c1.7.8 2.7 2.5 3 5.2" />
  </Svg>
);
export const PlusIcon = (p: P) => (
  <Svg {...p}>
    <path {...stroke} d="M12 5v14M5 12h14" />
  </Svg>
);
