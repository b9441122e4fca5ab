export * from './price-book.js';
export { loadPriceBook, type LoadPriceBookOptions } from './load-price-book.js';
export { PricesFileError, PricesFileSchema, type PricesFile } from './prices-file.js';
