export * from './wallets.js';
//# sourceMappingURL=index.js.map