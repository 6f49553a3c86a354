'use strict';
// node codecache.js BUNDLE [azurite arguments]: runs BUNDLE as the main module with the V8
// code cache kept beside it (BUNDLE.v8cache), which cuts a third of the CPU that starting
// Azurite takes. Debian's node 18 has no built-in compile cache (node 22's NODE_COMPILE_CACHE).
// With AZURITE_CODE_CACHE=write it writes that cache once the first server listens, and exits:
// the image build does this, so the cache covers the functions that start-up compiles.
const fs = require('fs');
const net = require('net');
const path = require('path');
const vm = require('vm');
const Module = require('module');

const bundle = path.resolve(process.argv[2]);
process.argv.splice(1, 2, bundle);
const cacheFile = `${bundle}.v8cache`;
const writing = process.env.AZURITE_CODE_CACHE === 'write';
const cachedData = !writing && fs.existsSync(cacheFile) ? fs.readFileSync(cacheFile) : undefined;
const source = fs.readFileSync(bundle, 'utf8').replace(/^#!.*/, '');
const script = new vm.Script(Module.wrap(source), { filename: bundle, cachedData });

if (writing) {
  const emit = net.Server.prototype.emit;
  let scheduled = false;
  net.Server.prototype.emit = function (event, ...args) {
    if (event === 'listening' && !scheduled) {
      scheduled = true;
      setTimeout(() => {
        fs.writeFileSync(cacheFile, script.createCachedData());
        process.exit(0);
      }, 300);
    }
    return emit.call(this, event, ...args);
  };
}

const main = new Module(bundle, null);
main.id = '.';
main.filename = bundle;
main.paths = Module._nodeModulePaths(path.dirname(bundle));
process.mainModule = main;
script.runInThisContext().call(main.exports, main.exports, (id) => main.require(id), main, bundle, path.dirname(bundle));
