/** The sandboxed Python subset: the public surface of lib/sandbox. */
export { PythonSandbox, type SandboxError, type SandboxOptions, type SandboxResult } from './sandbox.js';
export { DEFAULT_SANDBOX_LIMITS, checkImagePixels, type SandboxLimits } from './limits.js';
export { pyRepr, pyStr, floatRepr, strRepr } from './format.js';
export { typeName as pyTypeName } from './values.js';
export {
  PYTHON_SUBSET_TOKENS, PYTHON_SUBSET_KEYWORDS, PYTHON_SUBSET_OPERATORS, PYTHON_SUBSET_PUNCTUATION, PYTHON_SUBSET_ATTRIBUTES,
  PYTHON_SUBSET_KEYWORD_ARGUMENTS,
} from './tokens.js';
export { PyBuiltin, PyException, PyList, PyTuple, isHostObject, type HostContext, type PyHostObject, type PyValue } from './host.js';
