export { errorOf, isSuccess, requestJson } from './request-json.js';
export type { JsonRequest, JsonResponse } from './request-json.js';
