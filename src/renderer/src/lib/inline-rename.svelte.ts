/**
 * Rename in place: a name shown as a button turns into a text field; Enter or leaving the field saves,
 * Escape cancels, and an empty or unchanged name saves nothing. Used by run titles and favorite cards.
 */
export class InlineRename {
  editing = $state(false);
  value = $state('');
  readonly #current: () => string;
  readonly #save: (name: string) => unknown;

  constructor(current: () => string, save: (name: string) => unknown) {
    this.#current = current;
    this.#save = save;
  }

  begin = (): void => {
    this.value = this.#current();
    this.editing = true;
  };

  cancel = (): void => {
    this.editing = false;
  };

  commit = (): void => {
    if (!this.editing) return;
    this.editing = false;
    const name = this.value.trim();
    if (name && name !== this.#current()) void this.#save(name);
  };

  onkeydown = (event: KeyboardEvent): void => {
    if (event.key === 'Enter') this.commit();
    if (event.key === 'Escape') this.cancel();
  };
}

/** `use:selectOnMount`: a field that appears for editing takes focus with its text selected. */
export function selectOnMount(node: HTMLInputElement): void {
  node.focus();
  node.select();
}
