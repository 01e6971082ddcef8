/**
 * What the Attributes tab says about a named slider: how it was learned, and why it may not be trusted.
 * Pure, so the thresholds and the wording are tested without a window.
 */
import type { AttributeDirection } from '../../../shared/explorer-schemas.ts';

/** Under these a slider is shown as weak (the guide, docs/guide/explorer.md, names the same numbers). */
export const MIN_ACCURACY = 0.7;
export const MIN_MOVED = 0.9;
export const MAX_CROSS_TALK = 0.25;

export const percent = (share: number): string => `${Math.round(share * 100)} %`;

/** A tag in words when it is not one of the listed attributes (`blonde_hair` → `blonde hair`). */
export const tagWords = (tag: string): string => tag.replaceAll('_', ' ');

/** `learned from 77 with, 164 without · 97 % accurate on 59 held-out faces` */
export function attributeStats(a: AttributeDirection): string {
  const n = (count: number): string => count.toLocaleString('en-US');
  return `learned from ${n(a.positives)} with, ${n(a.negatives)} without · ${percent(a.accuracy)} accurate on ${n(a.heldOut)} held-out faces`;
}

/**
 * Why a slider should not be trusted to do only what its name says, in words; empty when it can be.
 * `labelOf` turns the most affected other tag into the words its own slider uses.
 */
export function attributeWeaknesses(
  a: AttributeDirection,
  labelOf: (tag: string) => string = tagWords,
): string[] {
  const out: string[] = [];
  if (a.accuracy < MIN_ACCURACY) out.push(`the tag is hard to recognise (${percent(a.accuracy)} accurate)`);
  if (a.effect.moved < MIN_MOVED) out.push(`moves only ${percent(a.effect.moved)} of faces toward it`);
  if (a.effect.crossTalk > MAX_CROSS_TALK)
    out.push(`also changes ${a.effect.mostAffected ? labelOf(a.effect.mostAffected) : 'other tags'}`);
  return out;
}
