// Leases as replicated state with leader-local deadlines (see lease-table.ts).
export {
  EXPIRED_RETRY_MS,
  type Lease,
  type LeaseResult,
  LeaseTable,
  MAX_LEASE_TTL,
  minLeaseTtl,
  type TimeToLive,
} from "./lease-table.js";
