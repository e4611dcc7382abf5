import { z } from "zod";

/**
 * What an agent reports about its Docker Engine: sent at connect and after Docker events, kept
 * by the server so the API and UI can show a device while no tunnel is open.
 */
export const dockerSnapshotSchema = z.object({
  collectedAt: z.string(),
  engine: z.object({ version: z.string(), apiVersion: z.string(), os: z.string(), arch: z.string(), kernelVersion: z.string() }),
  host: z.object({ name: z.string(), cpus: z.number().int().nonnegative(), memoryBytes: z.number().nonnegative() }),
  containers: z.array(
    z.object({ id: z.string(), names: z.array(z.string()), image: z.string(), state: z.string(), status: z.string(), created: z.number() }),
  ),
  images: z.array(z.object({ id: z.string(), tags: z.array(z.string()), sizeBytes: z.number().nonnegative(), created: z.number() })),
  volumes: z.array(z.object({ name: z.string(), driver: z.string() })),
  networks: z.array(z.object({ id: z.string(), name: z.string(), driver: z.string() })),
});
export type DockerSnapshot = z.infer<typeof dockerSnapshotSchema>;
