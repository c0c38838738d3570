// A modal <dialog>: focus moves in on open, Tab and Shift+Tab cycle inside it, Escape closes it,
// and focus goes back to the control that opened it however it was closed.

const FOCUSABLE = "button, input, select, textarea, a[href], [tabindex]:not([tabindex='-1'])";

function focusable(dialog) {
  return [...dialog.querySelectorAll(FOCUSABLE)].filter(
    (node) => !node.disabled && !node.closest("[hidden]") && node.getClientRects().length > 0);
}

function trapTab(dialog, event) {
  if (event.key !== "Tab") return;
  const nodes = focusable(dialog);
  if (!nodes.length) return;
  const first = nodes[0];
  const last = nodes[nodes.length - 1];
  const inside = dialog.contains(document.activeElement);
  if (event.shiftKey && (document.activeElement === first || !inside)) {
    event.preventDefault();
    last.focus();
  } else if (!event.shiftKey && (document.activeElement === last || !inside)) {
    event.preventDefault();
    first.focus();
  }
}

export class Modal {
  constructor(dialog, { onClose } = {}) {
    this.dialog = dialog;
    this.opener = null;
    this.onClose = onClose || (() => {});
    dialog.addEventListener("keydown", (event) => trapTab(dialog, event));
    // Escape fires "cancel" then "close"; every way of closing ends in "close".
    dialog.addEventListener("close", () => this._closed());
  }

  get isOpen() { return this.dialog.open; }

  open(opener, firstField) {
    this.opener = opener;
    this.dialog.showModal();
    const target = firstField || focusable(this.dialog)[0];
    if (target) target.focus();
  }

  close() {
    if (this.dialog.open) this.dialog.close();
  }

  _closed() {
    this.onClose();
    const opener = this.opener;
    this.opener = null;
    if (opener && opener.isConnected) opener.focus();
  }
}
