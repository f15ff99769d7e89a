/** The one error shape of every error answer (docs/api.md, "Auth and errors"). */
export const errorShape = (statusCode: number, error: string) => ({ statusCode, error, message: expect.any(String) });
