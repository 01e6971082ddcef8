import { describe, expect, it } from 'vitest';
import { controlUsesKey, isTextEntry, keyBelongsToFocus } from '../../src/renderer/src/lib/keyboard.ts';

const input = (type: string) => ({ tagName: 'INPUT', type });
const button = { tagName: 'BUTTON', type: 'submit' };
const slider = input('range');
const body = { tagName: 'BODY' };
const grid = { tagName: 'DIV' };
const editable = { tagName: 'DIV', isContentEditable: true };

describe('isTextEntry', () => {
  it('counts text fields, text areas, selects and contenteditable as typing', () => {
    for (const type of ['text', 'number', 'url', 'search', 'email', 'password', 'date']) {
      expect(isTextEntry(input(type))).toBe(true);
    }
    expect(isTextEntry({ tagName: 'INPUT' })).toBe(true);
    expect(isTextEntry({ tagName: 'TEXTAREA' })).toBe(true);
    expect(isTextEntry({ tagName: 'SELECT' })).toBe(true);
    expect(isTextEntry(editable)).toBe(true);
  });

  it('does not count buttons, sliders, boxes or plain elements as typing', () => {
    expect(isTextEntry(button)).toBe(false);
    expect(isTextEntry(slider)).toBe(false);
    expect(isTextEntry(input('checkbox'))).toBe(false);
    expect(isTextEntry(input('radio'))).toBe(false);
    expect(isTextEntry(input('submit'))).toBe(false);
    expect(isTextEntry(body)).toBe(false);
    expect(isTextEntry(grid)).toBe(false);
    expect(isTextEntry(null)).toBe(false);
  });
});

describe('controlUsesKey', () => {
  it('gives a focused slider the keys that move it, and only those', () => {
    for (const key of 'ArrowLeft ArrowRight ArrowUp ArrowDown Home End PageUp PageDown'.split(' ')) {
      expect(controlUsesKey(slider, key)).toBe(true);
    }
    expect(controlUsesKey(slider, 'n')).toBe(false);
    expect(controlUsesKey(slider, ' ')).toBe(false);
  });

  it('gives a focused button Space and Enter, not letters or arrows', () => {
    expect(controlUsesKey(button, ' ')).toBe(true);
    expect(controlUsesKey(button, 'Enter')).toBe(true);
    expect(controlUsesKey(button, 'n')).toBe(false);
    expect(controlUsesKey(button, 'ArrowRight')).toBe(false);
    expect(controlUsesKey({ tagName: 'SUMMARY' }, 'Enter')).toBe(true);
  });

  it('gives boxes and radio groups what they use', () => {
    expect(controlUsesKey(input('checkbox'), ' ')).toBe(true);
    expect(controlUsesKey(input('checkbox'), 'ArrowRight')).toBe(false);
    expect(controlUsesKey(input('radio'), 'ArrowDown')).toBe(true);
    expect(controlUsesKey(input('submit'), 'Enter')).toBe(true);
  });

  it('leaves every key to the screen when nothing that uses keys has focus', () => {
    for (const key of [' ', 'Enter', 'ArrowRight', 'x']) {
      expect(controlUsesKey(body, key)).toBe(false);
      expect(controlUsesKey(grid, key)).toBe(false);
    }
  });
});

describe('keyBelongsToFocus', () => {
  const on = (target: object, key: string) => keyBelongsToFocus({ key, target } as unknown as KeyboardEvent);

  it('keeps every key for a text field, including letters and arrows', () => {
    expect(on(input('text'), 'n')).toBe(true);
    expect(on(input('number'), 'ArrowUp')).toBe(true);
    expect(on({ tagName: 'SELECT' }, 's')).toBe(true);
  });

  it('lets letter shortcuts through on a slider or a button, but not the keys those use', () => {
    expect(on(slider, 'n')).toBe(false);
    expect(on(slider, 'ArrowRight')).toBe(true);
    expect(on(button, 's')).toBe(false);
    expect(on(button, 'ArrowLeft')).toBe(false);
    expect(on(button, ' ')).toBe(true);
    expect(on(body, ' ')).toBe(false);
  });
});
