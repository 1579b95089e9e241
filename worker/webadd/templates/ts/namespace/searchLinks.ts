/** Assisted mode: search pages the operator opens in their own browser. Nothing is fetched here. */
import type { ReviewItem } from "./imagefill";

export interface SearchLink {
  label: string;
  href: string;
}

export function searchQuery(item: Pick<ReviewItem, "name" | "brand" | "gtin" | "ean">): string {
  return [item.brand, item.name].filter(Boolean).join(" ");
}

export function searchLinks(item: Pick<ReviewItem, "name" | "brand" | "gtin" | "ean">): SearchLink[] {
  const byName = encodeURIComponent(searchQuery(item));
  const code = item.gtin ?? item.ean ?? "";
  const links: SearchLink[] = [
    { label: "Google Imagens", href: `https://www.google.com/search?tbm=isch&q=${byName}` },
    { label: "Bing Imagens", href: `https://www.bing.com/images/search?q=${byName}` },
  ];
  if (code) {
    links.push(
      { label: "Google pelo EAN", href: `https://www.google.com/search?tbm=isch&q=${encodeURIComponent(code)}` },
      { label: "Open Food Facts", href: `https://br.openfoodfacts.org/produto/${encodeURIComponent(code)}` },
    );
  }
  return links;
}
