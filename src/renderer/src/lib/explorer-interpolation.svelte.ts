import { KaoError } from '../../../shared/errors.ts';
import type { Favorite, InterpolationExportResult } from '../../../shared/explorer-schemas.ts';
import {
  interpolate,
  lerp,
  slerp,
  truncate,
  type InterpolationMode,
  type Latent,
} from '../../../core/explorer/latent.ts';
import type { RgbaImage } from '../../../core/explorer/generator.ts';
import { kao } from './api.ts';
import { errorMessage } from './format.ts';
import type { ExplorerCore } from './explorer-core.ts';

/** A face picked as an interpolation end: what it looked like, as the latent the generator sees. */
export interface Endpoint {
  label: string;
  latent: Latent;
}

/**
 * The Interpolation tab: two ends, the frame between them under the scrubber, and the animation from one to
 * the other exported by Node (with `explorer.export` progress events).
 */
export class Interpolation {
  endpointA = $state.raw<Endpoint | undefined>();
  endpointB = $state.raw<Endpoint | undefined>();
  mode = $state<InterpolationMode>('spherical');
  t = $state(0.5);
  exportFrames = $state(24);
  exportFormat = $state<'webp' | 'gif'>('webp');
  exportProgress = $state.raw<{ done: number; total: number } | undefined>();
  exporting = $state(false);
  exported = $state.raw<InterpolationExportResult | undefined>();
  /** The typed file an export would have replaced, while the panel asks. */
  exportExists = $state<string | undefined>();

  constructor(private readonly explorer: ExplorerCore) {}

  connect(): () => void {
    return kao.on('explorer.export', (progress) => {
      if (this.exporting) this.exportProgress = progress;
    });
  }

  setEndpoint(which: 'a' | 'b', endpoint: Endpoint): void {
    if (which === 'a') this.endpointA = endpoint;
    else this.endpointB = endpoint;
  }

  setEndpointFromCurrent(which: 'a' | 'b'): void {
    const { latent, face, seed } = this.explorer.editor;
    if (latent)
      this.setEndpoint(which, {
        label: `Seed ${seed}${face?.offsets.some((o) => o) || face?.attributes.some((o) => o) ? ' (edited)' : ''}`,
        latent,
      });
  }

  setEndpointFromFavorite(which: 'a' | 'b', favorite: Favorite): void {
    this.setEndpoint(which, {
      label: favorite.name,
      latent: truncate(Float32Array.from(favorite.z), favorite.truncation),
    });
  }

  /** Both ends unset (another run was opened: its latents mean something else). */
  clearEnds(): void {
    this.endpointA = undefined;
    this.endpointB = undefined;
  }

  /** The frame under the scrubber, or undefined until both ends are set. */
  get latent(): Latent | undefined {
    if (!this.endpointA || !this.endpointB) return undefined;
    const step = this.mode === 'spherical' ? slerp : lerp;
    return step(this.endpointA.latent, this.endpointB.latent, this.t);
  }

  /** A strip of frames from A to B for the preview. */
  async renderStrip(count = 8): Promise<RgbaImage[]> {
    const runtime = this.explorer.runtime;
    if (!runtime || !this.endpointA || !this.endpointB) return [];
    return runtime.render(interpolate(this.endpointA.latent, this.endpointB.latent, count, this.mode));
  }

  async exportAnimation(outPath?: string, overwrite = false): Promise<void> {
    const runtime = this.explorer.runtime;
    if (!runtime || !this.endpointA || !this.endpointB || this.exporting) return;
    this.exporting = true;
    this.exported = undefined;
    this.exportExists = undefined;
    this.exportProgress = { done: 0, total: this.exportFrames };
    try {
      this.exported = await kao.invoke('explorer.exportInterpolation', {
        runId: runtime.manifest.runId,
        step: runtime.manifest.step,
        from: Array.from(this.endpointA.latent),
        to: Array.from(this.endpointB.latent),
        frames: this.exportFrames,
        mode: this.mode,
        format: this.exportFormat,
        ...(outPath?.trim() ? { outPath: outPath.trim() } : {}),
        ...(overwrite ? { overwrite: true } : {}),
      });
    } catch (error) {
      // The file is there already: the panel asks before replacing it.
      if (error instanceof KaoError && error.code === 'exists') this.exportExists = outPath?.trim();
      else this.explorer.notify('error', `The animation could not be exported: ${errorMessage(error)}`);
    } finally {
      this.exporting = false;
      this.exportProgress = undefined;
    }
  }

  async cancelExport(): Promise<void> {
    await kao.invoke('explorer.cancelExport', {}).catch(() => undefined);
  }
}
