export interface Entry {
  kind: "dist" | "source";
  url: string;
  reason: string;
}
export function chooseEntry(root: string): Entry;
