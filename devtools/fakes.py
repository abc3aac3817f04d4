"""Made-up Brazilian names and addresses shared by the demo data and the benchmark's data generator."""

FIRST_NAMES = ["Ana", "Bruno", "Carla", "Daniel", "Eduarda", "Felipe", "Gabriela", "Henrique", "Isabela", "João",
               "Larissa", "Marcos", "Natália", "Otávio", "Paula", "Rafael", "Sandra", "Tiago", "Vanessa", "Wagner",
               "Beatriz", "Caio", "Débora", "Emerson", "Fernanda", "Gustavo", "Helena", "Igor", "Juliana", "Leonardo"]
LAST_NAMES = ["Silva", "Souza", "Oliveira", "Santos", "Pereira", "Lima", "Carvalho", "Ferreira", "Rodrigues",
              "Almeida", "Costa", "Gomes", "Martins", "Araújo", "Barbosa", "Ribeiro", "Alves", "Cardoso", "Rocha",
              "Dias"]
COMPANIES = ["Comércio de Tecidos Aurora", "Padaria Pão Dourado", "Mecânica Dois Irmãos", "Mercadinho Boa Vista",
             "Construtora Horizonte", "Papelaria Central"]
#: (street, neighbourhood, city, UF, CEP): real streets with their real CEPs.
ADDRESSES = [
    ("Rua Augusta", "Consolação", "São Paulo", "SP", "01305000"),
    ("Avenida Afonso Pena", "Centro", "Belo Horizonte", "MG", "30130001"),
    ("Rua das Laranjeiras", "Laranjeiras", "Rio de Janeiro", "RJ", "22240003"),
    ("Avenida Sete de Setembro", "Centro", "Salvador", "BA", "40060001"),
    ("Rua XV de Novembro", "Centro", "Curitiba", "PR", "80020310"),
    ("Avenida Boa Viagem", "Boa Viagem", "Recife", "PE", "51011000"),
    ("Rua dos Andradas", "Centro Histórico", "Porto Alegre", "RS", "90020007"),
    ("Avenida Paulista", "Bela Vista", "São Paulo", "SP", "01310100"),
]
