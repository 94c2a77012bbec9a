import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './components/App';
import { Controller } from './controller';
import { Ctx } from './context';
import { askPermissionOnFirstClick, showNotification } from './lib/notify';
import { preview } from './lib/text';
import { createStore } from './store';
import { PurrClient, defaultUrl } from './ws';
import './styles/base.css';
import './styles/sidebar.css';
import './styles/conversation.css';
import './styles/groups.css';
import './styles/phone.css';

const store = createStore();
const client = new PurrClient({ url: defaultUrl(), log: (m) => console.warn(`purr: ${m}`) });
const controller = new Controller(client, store, {
  visible: () => document.visibilityState === 'visible',
  notify: (m, name) => showNotification(name, preview(m.text, 140), `purr-${m.peer}`, () => controller.open(m.peer)),
});

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') controller.onVisible();
});
window.addEventListener('focus', () => controller.onVisible());
window.addEventListener('online', () => client.retryNow());
askPermissionOnFirstClick();

const root = document.getElementById('root');
if (root) {
  createRoot(root).render(
    <StrictMode>
      <Ctx.Provider value={{ store, controller }}>
        <App />
      </Ctx.Provider>
    </StrictMode>,
  );
}
client.start();
