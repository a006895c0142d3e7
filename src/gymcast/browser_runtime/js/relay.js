// The relay connection (runs in the worker): join, answer pings, and reconnect after a drop.
// The host treats a reconnect of the same session as a rejoin and sends the game state again.

const RECONNECT_MS = [500, 1000, 2000, 4000];

export class RelayConnection {
  /** `join`: the join message (session, token, game); `onMessage(message)` gets every other message. */
  constructor(url, join, onMessage, onStatus = () => {}) {
    Object.assign(this, { url, join, onMessage, onStatus });
    this.socket = null;
    this.closedOnPurpose = false;
    this.attempt = 0;
    this.queue = [];
    this.#open();
  }

  #open() {
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.onopen = () => {
      this.attempt = 0;
      socket.send(JSON.stringify(this.join));
      for (const message of this.queue.splice(0)) socket.send(message);
      this.onStatus("connected");
    };
    socket.onmessage = ({ data }) => {
      const message = JSON.parse(data);
      if (message.type === "ping") socket.send(JSON.stringify({ type: "pong", t: message.t }));
      else this.onMessage(message);
    };
    socket.onclose = () => {
      if (this.closedOnPurpose || socket !== this.socket) return;
      const delay = RECONNECT_MS[Math.min(this.attempt, RECONNECT_MS.length - 1)];
      this.attempt += 1;
      this.onStatus("reconnecting");
      setTimeout(() => this.#open(), delay);
    };
  }

  /** Send a message now, or as soon as the connection is (re)open. */
  send(message) {
    const text = JSON.stringify(message);
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(text);
    else this.queue.push(text);
  }

  setVisible(visible) {
    this.join = { ...this.join, visible };
    this.send({ type: "visibility", visible });
  }

  close() {
    this.closedOnPurpose = true;
    this.socket.close();
  }
}
