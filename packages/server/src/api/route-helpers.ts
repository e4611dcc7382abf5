import { z } from "@hono/zod-openapi";
import { errorSchema } from "./views.ts";

/** Routes that need a user accept either a session JWT or an access token. */
export const secured: Record<string, string[]>[] = [{ jwt: [] }, { apiKey: [] }];

/** A JSON request body. */
export const jsonBody = <T extends z.ZodType>(schema: T, required = true) => ({ content: { "application/json": { schema } }, required });

/** A JSON response. */
export const jsonAnswer = <T extends z.ZodType>(schema: T, description: string) => ({ content: { "application/json": { schema } }, description });

/** An error response: the one error shape `{code, message, details?, field?, fix?}` (`message` as Portainer answers). */
export const failure = (description: string) => jsonAnswer(errorSchema, description);

/** A positive integer path parameter. */
export const idParam = (name: string) => z.coerce.number().int().positive().openapi({ param: { name, in: "path" }, example: 1 });
