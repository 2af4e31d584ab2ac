// require('frozen-images'): the package is ES modules. Node 20.19 and newer load them with require() (require(esm));
// older Node cannot, and this says so in one line instead of ERR_REQUIRE_ESM's paragraph.
'use strict';
try {
  module.exports = require('./index.js');
} catch (error) {
  if (error && error.code === 'ERR_REQUIRE_ESM') {
    throw new Error(
      "frozen-images is ESM only on this Node: use import('frozen-images') (require() of it needs Node 20.19 or newer)",
    );
  }
  throw error;
}
