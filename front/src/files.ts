// Offering a file from the browser (docs/HTTP.md, "Uploads"): a small JPEG preview made
// here with a canvas, then one `POST /api/v1/files` whose body is the preview followed by
// the file (a Blob of the two: the file is not copied into memory).

import { type Transfer, toTransfer } from './api';

/** Largest preview the node takes (and the protocol carries). */
export const MAX_THUMB = 32 * 1024;
/** Longest side of a preview, in pixels. */
const THUMB_SIDE = 320;
/** Images larger than this are not decoded for a preview. */
const THUMB_FROM_AT_MOST = 40 * 1024 * 1024;

/** A JPEG preview of an image file, at most MAX_THUMB bytes; null when there is none. */
export async function makeThumb(file: Blob): Promise<Uint8Array | null> {
  if (!file.type.startsWith('image/') || file.size > THUMB_FROM_AT_MOST) return null;
  if (typeof createImageBitmap !== 'function' || typeof document === 'undefined') return null;
  try {
    const bitmap = await createImageBitmap(file);
    const scale = Math.min(1, THUMB_SIDE / Math.max(bitmap.width, bitmap.height, 1));
    const canvas = document.createElement('canvas');
    canvas.width = Math.max(1, Math.round(bitmap.width * scale));
    canvas.height = Math.max(1, Math.round(bitmap.height * scale));
    const ctx = canvas.getContext('2d');
    if (!ctx) return null;
    ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    for (const quality of [0.8, 0.6, 0.4, 0.25]) {
      const blob = await new Promise<Blob | null>((res) => canvas.toBlob(res, 'image/jpeg', quality));
      if (blob && blob.size <= MAX_THUMB) return new Uint8Array(await blob.arrayBuffer());
    }
  } catch {
    // Not decodable here (an unusual format): the file goes without a preview.
  }
  return null;
}

export interface UploadJob {
  to: string;
  file: File;
  thumb: Uint8Array | null;
  /** Words under the file (the composer's text when the file was attached). */
  caption?: string;
  onProgress(loaded: number): void;
}

/** Uploads; resolves with the offered transfer, rejects with the node's reason. */
export type Uploader = (job: UploadJob) => Promise<Transfer>;

/** The real uploader: XMLHttpRequest, for its upload progress events. */
export const xhrUpload: Uploader = ({ to, file, thumb, caption, onProgress }) =>
  new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/v1/files');
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    xhr.setRequestHeader('X-Purr-To', to);
    xhr.setRequestHeader('X-Purr-File-Name', encodeURIComponent(file.name));
    if (caption) xhr.setRequestHeader('X-Purr-Caption', encodeURIComponent(caption));
    const thumbLen = thumb?.byteLength ?? 0;
    xhr.setRequestHeader('X-Purr-Thumbnail-Length', String(thumbLen));
    xhr.upload.onprogress = (e) => onProgress(Math.max(0, e.loaded - thumbLen));
    xhr.onload = () => {
      let body: unknown = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        // Not JSON: said below.
      }
      const t = xhr.status === 201 ? toTransfer(body) : null;
      if (t) return resolve(t);
      const err = typeof body === 'object' && body && 'error' in body ? String((body as { error: unknown }).error) : '';
      reject(new Error(err || `the node answered ${xhr.status}`));
    };
    xhr.onerror = () => reject(new Error('the connection to your node broke'));
    const parts: BlobPart[] = thumb ? [thumb as BlobPart, file] : [file];
    xhr.send(new Blob(parts));
  });

/** `1.5 MB`, `320 B` (decimal units, as the speed). */
export function humanBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}

/** `42 s`, `3 min`, `2 h 5 min`. */
export function humanSeconds(s: number): string {
  if (s < 60) return `${Math.ceil(s)} s`;
  if (s < 3600) return `${Math.ceil(s / 60)} min`;
  const h = Math.floor(s / 3600);
  return `${h} h ${Math.ceil((s - h * 3600) / 60)} min`;
}
