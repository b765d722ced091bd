// Package deptest holds TestLayers, the one test of the module's layer
// rules: it reads the table of packages in docs/ARCHITECTURE.md (each
// package, what it owns, what it may import) and fails when a package
// imports what its row does not allow, when a package has no row, or when
// a row names no package. The table is the rule; this package only checks
// it, so a rule is changed in one place, the document.
//
// Layer rule (docs/ARCHITECTURE.md): the standard library only; nothing
// imports it.
package deptest
