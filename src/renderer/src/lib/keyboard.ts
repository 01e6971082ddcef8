/**
 * When a screen's single-key shortcut (N, S, X, Space, arrows) must leave a key alone. Two rules:
 * text entry owns every key (typing "n" in a name field is not "new run"), and any other focused control
 * owns the keys it acts on itself: Space and Enter press a button or tick a box, arrows move a slider or
 * a radio group. Everything else (an arrow on a button, N on a slider) is the screen's.
 */

/** What the rules read of a key event's target; an `HTMLElement` fits, and tests can pass plain objects. */
export interface KeyTarget {
  tagName: string;
  type?: string;
  isContentEditable?: boolean;
}

/** Input types that are pressed or moved rather than typed into. */
const NOT_TEXT = new Set([
  'button',
  'checkbox',
  'color',
  'file',
  'image',
  'radio',
  'range',
  'reset',
  'submit',
]);
const PRESS_KEYS = new Set([' ', 'Enter']);
const MOVE_KEYS = new Set([
  'ArrowLeft',
  'ArrowRight',
  'ArrowUp',
  'ArrowDown',
  'Home',
  'End',
  'PageUp',
  'PageDown',
]);

function asKeyTarget(target: EventTarget | KeyTarget | null): KeyTarget | undefined {
  return target && typeof (target as KeyTarget).tagName === 'string' ? (target as KeyTarget) : undefined;
}

/** A text field, text area, contenteditable or select (which takes typed letters to pick an option). */
export function isTextEntry(target: EventTarget | KeyTarget | null): boolean {
  const element = asKeyTarget(target);
  if (!element) return false;
  if (element.isContentEditable) return true;
  const tag = element.tagName.toUpperCase();
  if (tag === 'TEXTAREA' || tag === 'SELECT') return true;
  return tag === 'INPUT' && !NOT_TEXT.has((element.type ?? 'text').toLowerCase());
}

/** The focused control acts on this key itself: Space/Enter on a button or box, arrows on a slider or radio. */
export function controlUsesKey(target: EventTarget | KeyTarget | null, key: string): boolean {
  const element = asKeyTarget(target);
  if (!element) return false;
  const tag = element.tagName.toUpperCase();
  const type = (element.type ?? '').toLowerCase();
  if (tag === 'BUTTON' || tag === 'SUMMARY' || tag === 'A') return PRESS_KEYS.has(key);
  if (tag !== 'INPUT') return false;
  if (type === 'range') return MOVE_KEYS.has(key);
  if (type === 'radio') return MOVE_KEYS.has(key) || key === ' ';
  if (type === 'checkbox') return key === ' ';
  return NOT_TEXT.has(type) && PRESS_KEYS.has(key);
}

/** A shortcut handler returns early on this: the key belongs to what has focus. */
export function keyBelongsToFocus(event: Pick<KeyboardEvent, 'key' | 'target'>): boolean {
  return isTextEntry(event.target) || controlUsesKey(event.target, event.key);
}
