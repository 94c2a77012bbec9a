import type { ReactElement } from 'react';
import { hue, initials } from '../lib/text';

interface Props {
  id: string;
  name: string;
  size?: 'sm' | 'md' | 'lg';
  /** Shows the presence dot: true online, false offline, undefined none. */
  online?: boolean;
  /** A group's: a rounded square instead of a circle. */
  group?: boolean;
}

export function Avatar({ id, name, size = 'md', online, group = false }: Props): ReactElement {
  return (
    <span className={`avatar avatar-${size} av-${hue(id)}${group ? ' avatar-group' : ''}`} aria-hidden="true">
      {initials(name)}
      {online !== undefined && <span className={online ? 'dot dot-on' : 'dot'} />}
    </span>
  );
}
