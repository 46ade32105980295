/** convkit.models: the tutorial's networks, with torchvision's attribute names where they exist. */
export { Cifar10Net, cifar10Net } from './cifar10';
