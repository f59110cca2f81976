// Evaluates IAM requests with @cloud-copilot/iam-simulate, a full IAM policy evaluator.
// stdin: a JSON list of simulations (the package's Simulation shape);
// stdout: a JSON list of {"result": "Allowed" | "ImplicitlyDenied" | ..., "errors": ...}.
//
// The validating entry point (runSimulation) checks the action, the resource ARN and the
// context keys against AWS's service data, but matches variable condition keys only in the
// "prefix/Name" form, so it drops kms:EncryptionContext:<key> (a documented KMS key) from the
// request. For requests where it dropped exactly such keys, and only after that validation
// passed, the same core engine is run on the request as given: runUnsafeSimulation's steps,
// with the resource policy named (its published version leaves the name out and fails).
import { readFileSync } from 'node:fs'
import { loadPolicy } from '@cloud-copilot/iam-policy'
import { runSimulation } from '@cloud-copilot/iam-simulate'

const internal = (path) =>
  import(new URL(`./node_modules/@cloud-copilot/iam-simulate/dist/esm/${path}`, import.meta.url))
const { authorize } = await internal('core_engine/CoreSimulatorEngine.js')
const { AwsRequestImpl } = await internal('request/request.js')
const { RequestContextImpl } = await internal('requestContext.js')
const { DiscoveryContextKeyConstraints } = await internal(
  'context_keys/discoveryContextKeyConstraints.js'
)

const ENCRYPTION_CONTEXT = 'kms:encryptioncontext:'

function evaluateAsGiven(simulation) {
  const { request } = simulation
  const analysis = authorize({
    request: new AwsRequestImpl(
      request.principal,
      { resource: request.resource.resource, accountId: request.resource.accountId },
      request.action,
      new RequestContextImpl(request.contextVariables)
    ),
    sessionPolicy: undefined,
    identityPolicies: simulation.identityPolicies.map((p) => loadPolicy(p.policy, { name: p.name })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: simulation.resourcePolicy
      ? loadPolicy(simulation.resourcePolicy, { name: 'resource-policy' })
      : undefined,
    permissionBoundaries: undefined,
    vpcEndpointPolicies: undefined,
    simulationParameters: {
      simulationMode: 'Strict',
      discoveryContextKeyConstraints: new DiscoveryContextKeyConstraints([])
    },
    serviceSettings: { s3: { blockPublicAccess: undefined } }
  })
  return analysis.result
}

const simulations = JSON.parse(readFileSync(0, 'utf8'))
const answers = []
for (const simulation of simulations) {
  const outcome = await runSimulation(simulation, { simulationMode: 'Strict' })
  if (outcome.resultType === 'error') {
    answers.push({ result: 'Error', errors: outcome.errors })
    continue
  }
  const ignored = outcome.result?.ignoredContextKeys ?? []
  if (ignored.length > 0 && ignored.every((key) => key.toLowerCase().startsWith(ENCRYPTION_CONTEXT))) {
    answers.push({ result: evaluateAsGiven(simulation), errors: null, ignored })
  } else if (ignored.length > 0) {
    answers.push({ result: 'Error', errors: { message: `context keys not valid here: ${ignored}` } })
  } else {
    answers.push({ result: outcome.overallResult, errors: null })
  }
}
process.stdout.write(JSON.stringify(answers))
