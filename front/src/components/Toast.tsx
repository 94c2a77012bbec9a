import { type ReactElement, useEffect } from 'react';
import { useApp } from '../context';
import type { AppState } from '../state';
import { CloseIcon } from './Icons';

const TOAST_MS = 6000;

/** A transient notice for errors that belong to no form (e.g. a failed `verify`). */
export function Toast({ toast }: { toast: AppState['toast'] }): ReactElement {
  const { store } = useApp();
  useEffect(() => {
    if (!toast) return;
    const t = setTimeout(() => store.dispatch({ type: 'dismissToast' }), TOAST_MS);
    return () => clearTimeout(t);
  }, [toast, store]);
  return (
    <div className="toast-region" role="status" aria-live="polite">
      {toast && (
        <div className="toast" key={toast.id}>
          <span>{toast.text}</span>
          <button
            type="button"
            className="icon-btn icon-btn-small"
            aria-label="Dismiss"
            onClick={() => store.dispatch({ type: 'dismissToast' })}
          >
            <CloseIcon />
          </button>
        </div>
      )}
    </div>
  );
}
