// Browser notifications for messages that arrive while the tab is hidden. Permission is
// asked on the user's first click in the page, never on load (browsers penalize that).

const supported = (): boolean => typeof window !== 'undefined' && 'Notification' in window;

export function askPermissionOnFirstClick(): void {
  if (!supported() || Notification.permission !== 'default') return;
  const ask = (): void => {
    if (Notification.permission === 'default') void Notification.requestPermission().catch(() => {});
  };
  document.addEventListener('click', ask, { once: true, capture: true });
}

export function showNotification(title: string, body: string, tag: string, onClick: () => void): void {
  if (!supported() || Notification.permission !== 'granted') return;
  try {
    const n = new Notification(title, { body, tag, icon: '/favicon.svg' });
    n.onclick = () => {
      window.focus();
      onClick();
      n.close();
    };
  } catch {
    // Some browsers only allow notifications from a service worker; then there are none.
  }
}
