// CommonJS: require("funcatron") is the platform's package.
const { HTTPError, Response } = require("funcatron");

const pets = new Map([[1, { id: 1, name: "Rex" }]]);

exports.getPet = ({ petId, verbose, request }) => {
  console.log(`looking up pet ${petId}`);
  const pet = pets.get(petId);
  if (pet === undefined) throw new HTTPError(404, `no pet ${petId}`);
  return verbose ? { ...pet, idType: typeof petId, requestId: request.request_id } : pet;
};

exports.addPet = ({ body }) => {
  const pet = { id: pets.size + 1, name: body.name };
  pets.set(pet.id, pet);
  return new Response(pet, { status: 201, headers: { Location: `/pets/${pet.id}` } });
};

exports.boom = () => {
  throw new Error("the pets are loose");
};
