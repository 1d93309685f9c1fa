import fc from 'fast-check';

// fast-check draws arrays and strings of at most ten items unless told otherwise, whatever their
// maxLength: a property over "up to 300 steps" saw ten. Medium draws up to a hundred, so that a
// frame ring wraps, a table doubles and a parser meets long input in every suite that uses them.
fc.configureGlobal({ baseSize: 'medium' });
