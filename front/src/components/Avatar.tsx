import type { ReactElement } from 'react';
import { hue, initials } from '../lib/text';

interface Props {
  id: string;
  name: string;
  size?: 'sm' | 'md' | 'lg';
  /** Shows the presence dot: true online, false offline, undefined none. */
  online?: boolean;
}

export function Avatar({ id, name, size = 'md', online }: Props): ReactElement {
  return (
    <span className={`avatar avatar-${size} av-${hue(id)}`} aria-hidden="true">
      {initials(name)}
      {online !== undefined && <span className={online ? 'dot dot-on' : 'dot'} />}
    </span>
  );
}
