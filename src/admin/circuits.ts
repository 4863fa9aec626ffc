import { objectSettings } from "../breaker/gate";
import type { CircuitDetail } from "../breaker/protocol";
import type { ModelConfig } from "../config/resolve";
import type { Settings } from "../config/settings";

/** Reads and steers circuits in the same Durable Objects the request path uses. */
export class Circuits {
  constructor(
    private readonly env: Env,
    private readonly settings: Settings,
  ) {}

  private stub(model: ModelConfig) {
    return this.env.BREAKERS.getByName(model.name);
  }

  detail(model: ModelConfig): Promise<CircuitDetail> {
    return this.stub(model).detail(objectSettings(model, this.settings));
  }

  all(): Promise<CircuitDetail[]> {
    return Promise.all([...this.settings.config.models.values()].map((m) => this.detail(m)));
  }

  reset(model: ModelConfig, reason: string | undefined): Promise<CircuitDetail> {
    return this.stub(model).reset(objectSettings(model, this.settings), reason);
  }

  forceOpen(model: ModelConfig, reason: string, durationMs: number | null): Promise<CircuitDetail> {
    return this.stub(model).forceOpen(objectSettings(model, this.settings), reason, durationMs);
  }

  series(model: ModelConfig): Promise<Record<string, number>> {
    return this.stub(model).series();
  }

  allSeries(): Promise<Record<string, number>[]> {
    return Promise.all([...this.settings.config.models.values()].map((m) => this.series(m)));
  }
}
