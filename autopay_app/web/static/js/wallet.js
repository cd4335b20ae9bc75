// The person's wallet through the Wallet Standard (Phantom, Solflare, Backpack): discovery,
// connect (Devnet-style chains only), account change and disconnect events, live balances,
// and signing raw transaction bytes. Other modules (wallet_actions.js) use `wallet`.
import { getWallets } from "../vendor/wallet-standard/index.js";

const DEVNET_CHAINS = ["solana:devnet", "solana:testnet", "solana:localnet"];
const REMEMBER = "autopay.wallet";
const REFRESH_MS = 5000;
const panel = document.getElementById("wallet");
const $ = (name) => panel && panel.querySelector(`[data-test=${name}]`);

export const wallet = { current: null, account: null, chain: null };
const listeners = new Set();
/** Call ``listener(wallet)`` now and on every change; returns the unsubscribe function. */
export function onWalletChange(listener) {
  listeners.add(listener);
  listener(wallet);
  return () => listeners.delete(listener);
}
function changed() {
  document.body.dataset.wallet = wallet.account ? "connected" : "";
  listeners.forEach((listener) => listener(wallet));
  render();
}

function usable(w) {
  return "standard:connect" in w.features && "solana:signTransaction" in w.features
    && w.chains.some((c) => c.startsWith("solana:"));
}

function devnetChain(account, w) {
  const chains = account.chains && account.chains.length ? account.chains : w.chains;
  return DEVNET_CHAINS.find((c) => chains.includes(c)) || null;
}

function showError(text) {
  const box = $("wallet-error");
  if (!box) { return; }
  box.textContent = text || "";
  box.hidden = !text;
}

let unsubscribe = null;
export async function connect(w, silent = false) {
  showError("");
  let accounts;
  try {
    accounts = (await w.features["standard:connect"].connect(silent ? { silent: true } : undefined)).accounts;
  } catch (error) {
    if (!silent) { showError(`${w.name} did not connect: ${error && error.message ? error.message : error}`); }
    return;
  }
  const account = accounts[0];
  if (!account) { if (!silent) { showError(`${w.name} gave no account.`); } return; }
  const chain = devnetChain(account, w);
  if (!chain) {
    const on = (account.chains && account.chains.length ? account.chains : w.chains).join(", ");
    showError(`${w.name} is on ${on}: Autopay works on Solana Devnet only and refuses mainnet. `
      + "Switch the wallet to Devnet (Phantom: Settings → Developer Settings → Testnet Mode) and connect again.");
    if (w.features["standard:disconnect"]) { await w.features["standard:disconnect"].disconnect(); }
    return;
  }
  Object.assign(wallet, { current: w, account, chain });
  sessionStorage.setItem(REMEMBER, w.name);
  if (unsubscribe) { unsubscribe(); }
  unsubscribe = w.features["standard:events"]
    ? w.features["standard:events"].on("change", (properties) => accountsChanged(w, properties)) : null;
  changed();
  refresh();
}

function accountsChanged(w, properties) {
  if (!properties.accounts || wallet.current !== w) { return; }
  const account = properties.accounts[0];
  if (!account) { forget("The wallet disconnected."); return; }
  if (!devnetChain(account, w)) { forget("The wallet left Devnet: disconnected."); return; }
  wallet.account = account;
  changed();
  refresh();
}

function forget(message) {
  if (unsubscribe) { unsubscribe(); unsubscribe = null; }
  Object.assign(wallet, { current: null, account: null, chain: null });
  sessionStorage.removeItem(REMEMBER);
  changed();
  if (message) { showError(message); }
}

export async function disconnect() {
  const w = wallet.current;
  forget("");
  if (w && w.features["standard:disconnect"]) { await w.features["standard:disconnect"].disconnect(); }
}

/** Have the connected wallet sign raw transaction bytes; resolves to the signed bytes. */
export async function signTransaction(bytes) {
  if (!wallet.current) { throw new Error("no wallet connected"); }
  const [output] = await wallet.current.features["solana:signTransaction"].signTransaction(
    { account: wallet.account, transaction: bytes, chain: wallet.chain });
  return output.signedTransaction;
}

export async function refresh() {
  if (!panel || !wallet.account) { return; }
  const url = `${panel.dataset.balances}?address=${encodeURIComponent(wallet.account.address)}`;
  const answer = await fetch(url, { credentials: "same-origin" });
  if (!answer.ok) { return; }
  const body = await answer.json();
  if (!wallet.account || body.address !== wallet.account.address) { return; }
  for (const asset of ["SOL", "USDC", "CASH"]) { $(`wallet-${asset}`).textContent = body[asset]; }
  $("wallet-cluster").textContent = `${body.cluster} (wallet chain ${wallet.chain})`;
}

function render() {
  if (!panel) { return; }
  const connected = Boolean(wallet.account);
  $("wallet-connected").hidden = !connected;
  $("wallet-list").hidden = connected;
  if (connected) {
    $("wallet-status").textContent = "Your wallet signs; the server sees only its public address.";
    $("wallet-name").textContent = wallet.current.name;
    $("wallet-address").textContent = wallet.account.address;
  }
}

function listWallets(wallets) {
  if (!panel) { return; }
  const list = $("wallet-list");
  const found = wallets.filter(usable);
  list.replaceChildren(...found.map((w) => {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.test = "wallet-connect";
    button.dataset.wallet = w.name;
    button.textContent = `Connect ${w.name}`;
    button.addEventListener("click", () => connect(w));
    return button;
  }));
  if (!wallet.account) {
    $("wallet-status").textContent = found.length ? "Connect a wallet to top up the agent or pay a quote yourself."
      : "No Solana wallet found in this browser: install Phantom (testnet mode) or see the README.";
  }
  const remembered = sessionStorage.getItem(REMEMBER);
  const again = found.find((w) => w.name === remembered);
  if (again && !wallet.account) { connect(again, true); }
}

if (panel) {
  $("wallet-disconnect").addEventListener("click", () => disconnect());
  const { get, on } = getWallets();
  on("register", () => listWallets(get()));
  on("unregister", () => listWallets(get()));
  listWallets(get());
  setInterval(refresh, REFRESH_MS);
}
