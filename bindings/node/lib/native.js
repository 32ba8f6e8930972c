'use strict';
// Loads the compiled addon (cmake-js: build/Release/libcache.node) and hands
// it the package's error factory, so that the errors it throws are the
// package's classes.
const path = require('node:path');
const errors = require('./errors');

const native = require(path.join(__dirname, '..', 'build', 'Release', 'libcache.node'));
native.setErrorFactory(errors.makeError);

module.exports = native;
