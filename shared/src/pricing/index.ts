export * from './price-book.js';
