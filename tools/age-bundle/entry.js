// The one entry point of the vendored bundle: re-exports what the bidder's section page (static/js/seal.js)
// uses. Everything else of the library is tree-shaken away by esbuild where possible.
export { Encrypter, Decrypter, generateX25519Identity, identityToRecipient } from "age-encryption";
