// Your devices, in the sidebar: the list, "Add a device" (a one-time ticket
// and its QR code, then the code both screens show once the new device
// linked), and retiring a lost one after a real confirmation.
import { backend } from "./bridge.js";
import { el, ask } from "./dom.js";
import { drawQr } from "./qr.js";

const $ = (id) => document.getElementById(id);

export class DevicesPanel {
  constructor(say) {
    this.say = say;
    this.waiting = null;
    $("devices").addEventListener("toggle", () => $("devices").open && this.show().catch((e) => say(e.message)));
    $("add-device").addEventListener("click", () => this.add().catch((e) => say(e.message)));
  }

  async show() {
    const devices = await backend.devices();
    $("device-list").replaceChildren(...devices.map((d) =>
      el("li", { class: "device", "data-device": d.id },
        `${d.short}${d.this ? " (this device)" : ""} · in ${d.circles} circle${d.circles === 1 ? "" : "s"} `,
        d.this ? null : el("button", { class: "secondary retire-device", onclick: () => this.retire(d).catch((e) => this.say(e.message)) }, "Remove"))));
  }

  async add() {
    const link = await backend.addDevice();
    $("device-ticket").textContent = link.ticket;
    drawQr($("device-qr"), link.qr_size, link.qr);
    $("device-code").textContent = "Waiting for the new device…";
    $("device-link").hidden = false;
    clearInterval(this.waiting);
    this.waiting = setInterval(async () => {
      const linked = await backend.deviceLinked(link.ticket).catch(() => null);
      if (!linked) return;
      clearInterval(this.waiting);
      $("device-code").textContent = `Linked ${linked.device.slice(0, 8)}. The new device shows the code ${linked.code}; if it does not, remove it.`;
      await this.show();
    }, 1000);
  }

  async retire(device) {
    const sure = await ask(`Remove device ${device.short}? It is sealed out of every circle and can no longer sync. Do this for a lost or sold computer.`, "Remove device");
    if (!sure) return;
    const circles = await backend.retireDevice(device.id);
    this.say(`Device ${device.short} removed from ${circles} circle${circles === 1 ? "" : "s"}.`, "ok");
    await this.show();
  }
}
