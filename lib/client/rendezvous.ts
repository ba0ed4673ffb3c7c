/**
 * Rendezvous (highest-random-weight) ordering of block services, as Keep does
 * it: each service's weight for a block is the MD5 hex of the block's digest
 * followed by the service's id, and services are tried heaviest first. Every
 * client computes the same order for a block with no coordination, and adding
 * or removing a service moves only the blocks that service wins or loses.
 *
 * @example Where a block goes
 * ```ts
 * import { rendezvousOrder } from "./rendezvous.ts";
 * import assert from "node:assert/strict";
 *
 * const order = rendezvousOrder("acbd18db4cc2f85cedef654fccc4a4d8", [{ id: "a" }, { id: "b" }, { id: "c" }]);
 * assert.equal(order.length, 3);
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";

/**
 * The weight of a service for a block.
 *
 * @param digest The block's hex digest.
 * @param serviceId The service's stable id.
 * @returns 32 hex digits; larger sorts first.
 */
export function rendezvousWeight(digest: string, serviceId: string): string {
  return createHash("md5").update(digest + serviceId).digest("hex");
}

/**
 * Orders services for a block, heaviest first.
 *
 * @param digest The block's hex digest (no size or hints).
 * @param services Anything with an `id`.
 * @returns A new array in probe order.
 */
export function rendezvousOrder<T extends { readonly id: string }>(
  digest: string,
  services: readonly T[],
): T[] {
  return services
    .map((service) => ({ service, weight: rendezvousWeight(digest, service.id) }))
    .sort((a, b) => (a.weight < b.weight ? 1 : a.weight > b.weight ? -1 : 0))
    .map(({ service }) => service);
}
