/**
 * The one image type every module shares: 8-bit RGB, row-major, no padding.
 * A plain data record (no methods) so that the sandbox, the image code, the
 * worlds and the report can pass images without depending on each other.
 */
export interface RgbImage {
  /** Width in pixels (>= 1). */
  readonly width: number;
  /** Height in pixels (>= 1). */
  readonly height: number;
  /** width * height * 3 bytes: R, G, B of pixel (x, y) at 3 * (y * width + x). */
  readonly data: Uint8Array;
}
