// The x402 TypeScript client (@x402/fetch + @x402/svm), paying each URL once.
//
// Environment: SECRET_KEY (JSON array of the 64 keypair bytes), RPC_URL, MINT (the asset
// to pay with), URLS (JSON array). Prints one JSON line per URL: status, the
// PAYMENT-RESPONSE header and the PAYMENT-SIGNATURE that was sent (for the replay).
import { wrapFetchWithPayment, x402Client } from "@x402/fetch";
import { ExactSvmScheme } from "@x402/svm/exact/client";
import { createKeyPairSignerFromBytes } from "@solana/kit";

const signer = await createKeyPairSignerFromBytes(
  new Uint8Array(JSON.parse(process.env.SECRET_KEY)),
);
const mint = process.env.MINT;
const client = new x402Client();
client.register("solana:*", new ExactSvmScheme(signer, { rpcUrl: process.env.RPC_URL }));
client.setSpendControls({ allowedAssets: [{ network: "solana:*", asset: mint }] });
client.registerPolicy((_version, requirements) => requirements.filter((r) => r.asset === mint));

let sent = null;
const recordingFetch = async (input, init) => {
  const request = new Request(input, init);
  sent = request.headers.get("PAYMENT-SIGNATURE") ?? sent;
  return fetch(request);
};
const pay = wrapFetchWithPayment(recordingFetch, client);

for (const url of JSON.parse(process.env.URLS)) {
  sent = null;
  const response = await pay(url);
  await response.arrayBuffer();
  console.log(
    JSON.stringify({
      url,
      status: response.status,
      paymentResponse: response.headers.get("PAYMENT-RESPONSE"),
      paymentSignature: sent,
    }),
  );
}
