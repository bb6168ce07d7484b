import { strict as assert } from "node:assert";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { installMocks, resourceNamed, settle, isSecretValue, valueOf } from "./mocks";

installMocks();

describe("shared mocks", () => {
  it("record resource options and secret inputs", async () => {
    const first = new command.local.Command("first", { create: "true" });
    const second = new command.local.Command(
      "second",
      { create: "true", stdin: pulumi.secret("s3cret") },
      { dependsOn: [first], protect: true, deleteBeforeReplace: true, additionalSecretOutputs: ["stdout"] },
    );
    await valueOf(second.stdout);
    await settle();
    const rec = resourceNamed("command:local:Command", "second");
    const firstUrn = resourceNamed("command:local:Command", "first").urn;
    assert.ok(rec.dependencies.includes(firstUrn));
    assert.equal(rec.protect, true);
    assert.equal(rec.deleteBeforeReplace, true);
    assert.deepEqual(rec.additionalSecretOutputs, ["stdout"]);
    assert.ok(isSecretValue(rec.inputs["stdin"]));
  });
});
