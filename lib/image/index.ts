/** RGB images: construction, crop / resize / rotate, the policy's view, decoding with sharp. */
export * from './image.js';
export * from './ops.js';
export * from './view.js';
export * from './decode.js';
