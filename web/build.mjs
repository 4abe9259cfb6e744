// 守护 Shouhu: the one bundle the pages cannot take from npm as published.
// dmn-js ships its "production" bundle with Inferno's development build inside (it logs "Inferno is in
// development mode" and warns about a minified development copy). This bundles dmn-js's modeler from its
// sources with NODE_ENV=production, so Inferno's production build is used. Run by `npm run build`
// (./run install does it after npm install); the result sits beside the packages it is built from.
import { build } from "esbuild";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "node_modules", ".shouhu-build");
mkdirSync(out, { recursive: true });
await build({
  stdin: { contents: 'export { default } from "dmn-js/lib/Modeler";', resolveDir: here, loader: "js" },
  bundle: true,
  minify: true,
  format: "iife",
  globalName: "ShouhuDmn",
  footer: { js: "window.DmnJS = ShouhuDmn.default;" },
  define: { "process.env.NODE_ENV": '"production"' },
  target: ["es2019"],
  legalComments: "eof",
  outfile: join(out, "dmn-modeler.production.min.js"),
  logLevel: "warning",
});
