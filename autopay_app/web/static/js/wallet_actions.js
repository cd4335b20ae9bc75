// What the connected wallet does for the dashboard: top up an agent, pay an approval.
// The server builds each transaction; the wallet signs its raw bytes; the server checks
// it is the transaction built, sends it and records it.
import { onWalletChange, refresh, signTransaction, wallet } from "./wallet.js";

const panel = document.getElementById("wallet");
const csrf = document.querySelector("meta[name=csrf-token]").content;
const $ = (name) => panel && panel.querySelector(`[data-test=${name}]`);
export const toBase64 = (bytes) => btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join(""));
export const fromBase64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

export async function post(url, body) {
  const answer = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
    body: JSON.stringify(body),
  });
  const data = await answer.json().catch(() => ({}));
  if (!answer.ok) { throw new Error(data.error ? data.error.message : `HTTP ${answer.status}`); }
  return data;
}

function say(text, ok) {
  const box = $("wallet-result");
  if (!box) { return; }
  box.textContent = text;
  box.className = `banner ${ok ? "ok" : "warning"}`;
  box.hidden = false;
}

async function topUp(form) {
  const button = form.querySelector("button");
  button.disabled = true;
  const agentId = form.elements.agent_id.value;
  try {
    say("Building the transfer…", true);
    const built = await post(panel.dataset.topupPrepare, {
      agent_id: agentId, address: wallet.account.address,
      asset: form.elements.asset.value, amount: form.elements.amount.value,
    });
    say("Approve the transfer in your wallet…", true);
    const signed = await signTransaction(fromBase64(built.transaction));
    say("Sending…", true);
    const done = await post(panel.dataset.topupSubmit,
      { agent_id: agentId, key: built.key, transaction: toBase64(signed) });
    say(`Topped up ${done.amount} ${done.asset} (transaction ${done.signature}); the agent now holds `
      + `${done.balance} ${done.asset}${done.paused ? ", still below its threshold" : ""}.`, true);
    $("wallet-result").dataset.signature = done.signature;
    refresh();
  } catch (error) {
    say(`Top-up not made: ${error && error.message ? error.message : error}`, false);
  } finally {
    button.disabled = false;
  }
}

// ------------------------------------------------------------ pay an approval
// How long the wallet may take to answer (the app's AUTOPAY_WALLET_SIGN_TIMEOUT_S, 120 s).
const SIGN_TIMEOUT_MS = Number((panel && panel.dataset.signTimeoutMs) || 120000);

/** The wallet's signature, or a refusal {reason, detail}: rejected, timeout, disconnected. */
function signGuarded(bytes) {
  return new Promise((resolve, reject) => {
    let done = false;
    let unsubscribe = () => {};
    const finish = (settle, value) => {
      if (done) { return; }
      done = true;
      clearTimeout(timer);
      unsubscribe();
      settle(value);
    };
    const timer = setTimeout(() => finish(reject,
      { reason: "timeout", detail: `no answer within ${SIGN_TIMEOUT_MS / 1000} s` }), SIGN_TIMEOUT_MS);
    unsubscribe = onWalletChange((w) => {
      if (!w.account) { finish(reject, { reason: "disconnected", detail: "" }); }
    });
    signTransaction(bytes).then((signed) => finish(resolve, signed), (error) => {
      const message = error && error.message ? error.message : String(error);
      const rejected = (error && error.code === 4001) || /reject|cancel|denied/i.test(message);
      finish(reject, { reason: rejected ? "rejected" : "error", detail: message });
    });
  });
}

async function payWithWallet(button) {
  button.disabled = true;
  let built;
  try {
    say("Checking the payment against the agent's policy…", true);
    built = await post(button.dataset.prepare, { address: wallet.account.address });
  } catch (error) {
    say(`Your wallet was not asked: ${error.message}`, false);
    button.disabled = false;
    return;
  }
  say("Approve the payment in your wallet…", true);
  let signed;
  try {
    signed = await signGuarded(fromBase64(built.transaction));
  } catch (refusal) {
    say(`Not paid: ${refusal.reason}.`, false);
    await post(button.dataset.refuse, refusal).catch(() => {});
    window.location.assign(button.dataset.done);
    return;
  }
  say("Paying the seller…", true);
  try {
    await post(button.dataset.submit, { key: built.key, transaction: toBase64(signed) });
  } catch (error) {
    await post(button.dataset.refuse, { reason: "error", detail: error.message }).catch(() => {});
  }
  window.location.assign(button.dataset.done);
}

document.addEventListener("click", (event) => {
  const button = event.target instanceof Element && event.target.closest("button.pay-with-wallet");
  if (button && wallet.account) { payWithWallet(button); }
});

if (panel) {
  const form = $("topup-form");
  if (form) {
    form.addEventListener("submit", (event) => { event.preventDefault(); topUp(form); });
    onWalletChange((w) => { form.hidden = !w.account; });
  }
  // The low-balance notice's "Top up from my wallet" chooses the agent and asset here.
  document.addEventListener("click", (event) => {
    const link = event.target instanceof Element && event.target.closest("[data-topup-agent]");
    if (!link || !form) { return; }
    form.elements.agent_id.value = link.dataset.topupAgent;
    form.elements.asset.value = link.dataset.topupAsset;
    form.elements.amount.focus();
  });
}
