export function searchQuery(item) {
    return [item.brand, item.name].filter(Boolean).join(" ");
}
export function searchLinks(item) {
    const byName = encodeURIComponent(searchQuery(item));
    const code = item.gtin ?? item.ean ?? "";
    const links = [
        { label: "Google Imagens", href: `https://www.google.com/search?tbm=isch&q=${byName}` },
        { label: "Bing Imagens", href: `https://www.bing.com/images/search?q=${byName}` },
    ];
    if (code) {
        links.push({ label: "Google pelo EAN", href: `https://www.google.com/search?tbm=isch&q=${encodeURIComponent(code)}` }, { label: "Open Food Facts", href: `https://br.openfoodfacts.org/produto/${encodeURIComponent(code)}` });
    }
    return links;
}
