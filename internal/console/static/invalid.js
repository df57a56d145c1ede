// The invalid-link page needs no behaviour; the module exists so every page loads one.
export {};
