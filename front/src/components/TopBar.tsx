import type { ReactElement, ReactNode } from 'react';
import { MenuIcon } from './Icons';

/** The bar above the main pane; on a phone its first button opens the peer drawer. */
export function TopBar({ onMenu, children }: { onMenu: () => void; children: ReactNode }): ReactElement {
  return (
    <header className="topbar">
      <button type="button" className="icon-btn menu-btn" aria-label="Show peers" onClick={onMenu}>
        <MenuIcon />
      </button>
      {children}
    </header>
  );
}
