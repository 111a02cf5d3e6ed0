/**
 * A value made on first use and shared after. Cloud SDKs are large (the Azure and Kubernetes
 * clients alone load ~2,500 modules), so each is imported where a job or check first needs it,
 * never at start-up. A failed attempt is forgotten so the next call tries again.
 */
export function lazy<T>(make: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | null = null;
  return () => {
    value ??= make().catch((err: unknown) => {
      value = null;
      throw err;
    });
    return value;
  };
}
