// Moved to ../shared/ports.ts (the virtualbox provider forwards ports the same way); kept for
// the builder and the qemu tests that import it from here.
export {checkForwardedPorts, findDuplicateForwards, freePort, portIsFree, type MachinePorts} from '../shared/ports.js';
